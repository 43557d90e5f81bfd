//! A fake HDHomeRun tuner for the tests: TCP control and UDP discovery on one 127.0.0.1 port
//! (65001 for the vendor's hdhomerun_config, any port for promlet). It has its own small
//! codec, written from the protocol notes and independent of promlet's, so a test where both
//! the vendor client and promlet talk to it checks promlet against the real protocol.
//!
//! Besides a well-behaved device it can misbehave on purpose: never answer, close half way
//! through a reply, answer another item, send a bad CRC, garbage, or a length field larger
//! than what follows, or answer slowly.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

pub const DEVICE_ID: u32 = 0x1040_A3E7;

/// How the device behaves on TCP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Normal,
    /// Accepts connections and reads requests, never answers.
    Silent,
    /// Sends the first half of each reply, then closes.
    CloseMidReply,
    /// Answers with the value of another item, named as such.
    WrongItem,
    /// Corrupts the CRC of each reply.
    BadCrc,
    /// Answers with bytes that are no frame at all.
    Garbage,
    /// Announces 1000 payload bytes, sends the real (short) reply and keeps the connection open.
    LengthTooLarge,
    /// Answers normally after this many milliseconds.
    Delay(u64),
}

pub struct State {
    pub mode: Mode,
    pub tuners: usize,
    pub channels: Vec<String>,
    /// Lock keys that came with set requests.
    pub lockkeys: Vec<Option<u32>>,
    /// Every TCP request frame, raw.
    pub requests: Vec<Vec<u8>>,
    /// Every UDP frame, raw.
    pub discovers: Vec<Vec<u8>>,
    pub connections: usize,
}

pub struct Fake {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

// ---- the fake's own codec ----

pub fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in data {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

pub fn frame(typ: u16, tags: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut payload = Vec::new();
    for (t, v) in tags {
        payload.push(*t);
        if v.len() < 128 {
            payload.push(v.len() as u8);
        } else {
            payload.push(0x80 | (v.len() & 0x7f) as u8);
            payload.push((v.len() >> 7) as u8);
        }
        payload.extend_from_slice(v);
    }
    let mut out = typ.to_be_bytes().to_vec();
    out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    out.extend_from_slice(&payload);
    let crc = crc32(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

pub fn cstr(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

/// Type and tags of a whole frame, or None if it is malformed.
/// Tags of a frame, in order.
pub type Tags = Vec<(u8, Vec<u8>)>;

pub fn parse(f: &[u8]) -> Option<(u16, Tags)> {
    if f.len() < 8 {
        return None;
    }
    let len = u16::from_be_bytes([f[2], f[3]]) as usize;
    if f.len() != len + 8 {
        return None;
    }
    let crc = u32::from_le_bytes(f[f.len() - 4..].try_into().ok()?);
    if crc != crc32(&f[..f.len() - 4]) {
        return None;
    }
    let p = &f[4..4 + len];
    let mut tags = Vec::new();
    let mut i = 0;
    while i < p.len() {
        let t = p[i];
        let mut n = *p.get(i + 1)? as usize;
        i += 2;
        if n & 0x80 != 0 {
            n = (n & 0x7f) | ((*p.get(i)? as usize) << 7);
            i += 1;
        }
        tags.push((t, p.get(i..i + n)?.to_vec()));
        i += n;
    }
    Some((u16::from_be_bytes([f[0], f[1]]), tags))
}

fn tag_str(tags: &[(u8, Vec<u8>)], t: u8) -> Option<String> {
    tags.iter().find(|(k, _)| *k == t).map(|(_, v)| {
        let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
        String::from_utf8_lossy(&v[..end]).into_owned()
    })
}

// ---- the device ----

fn debug_text(channel: &str) -> String {
    if channel == "none" {
        "tun: ch=none lock=none ss=0 snq=0 seq=0 dbg=0\ndev: bps=0 resync=0 overflow=0\n\
         ts:  bps=0 te=0 crc=0\nnet: pps=0 err=0 stop=0\n"
            .into()
    } else {
        format!(
            "tun: ch={channel} lock=8vsb:515000000 ss=80 snq=76 seq=100 dbg=-514/13110\n\
             dev: bps=19394080 resync=0 overflow=0\nts:  bps=19394080 te=0 crc=0\n\
             net: pps=1451 err=0 stop=0\n"
        )
    }
}

/// The value of `item`, or the device's error text.
fn lookup(st: &State, item: &str) -> Result<String, String> {
    let unknown = || Err("ERROR: unknown getset variable".to_string());
    match item {
        "/sys/model" => return Ok("hdhomerun4_atsc".into()),
        "/sys/hwmodel" => return Ok("HDHR4-2US".into()),
        "/sys/version" => return Ok("20200907".into()),
        "/sys/copyright" => return Ok("Copyright © 2005-2020 Silicondust USA Inc.".into()),
        "help" => {
            return Ok(
                "Supported configuration options:\n/sys/model\n/sys/version\n/tuner<n>/debug\n"
                    .into(),
            )
        }
        _ => {}
    }
    let Some(rest) = item.strip_prefix("/tuner") else {
        return unknown();
    };
    let Some((n, what)) = rest.split_once('/') else {
        return unknown();
    };
    let Ok(n) = n.parse::<usize>() else {
        return unknown();
    };
    if n >= st.tuners {
        return unknown();
    }
    let ch = &st.channels[n];
    let tuned = ch != "none";
    Ok(match what {
        "debug" => debug_text(ch),
        "status" if tuned => {
            format!("ch={ch} lock=8vsb ss=80 snq=76 seq=100 bps=19394080 pps=1451")
        }
        "status" => "ch=none lock=none ss=0 snq=0 seq=0 bps=0 pps=0".into(),
        "streaminfo" if tuned => {
            "3: 6.1 CBMT-DT\n4: 6.2 CBMT-SD\n5: 6.3 ANTENNA (no data)\ntsid=0x4467\n".into()
        }
        "streaminfo" => "none\n".into(),
        "channel" => ch.clone(),
        "channelmap" => "us-bcast".into(),
        "target" | "lockkey" => "none".into(),
        "program" => "0".into(),
        "filter" => "0x0000-0x1fff".into(),
        _ => return unknown(),
    })
}

fn answer(state: &Mutex<State>, req: &[u8]) -> (Mode, Vec<u8>, String) {
    let mut st = state.lock().unwrap();
    st.requests.push(req.to_vec());
    let mode = st.mode;
    let Some((_, tags)) = parse(req) else {
        return (
            mode,
            frame(5, &[(5, cstr("ERROR: bad request"))]),
            String::new(),
        );
    };
    let name = tag_str(&tags, 3).unwrap_or_default();
    let value = tag_str(&tags, 4);
    let key = tags
        .iter()
        .find(|(t, v)| *t == 0x15 && v.len() == 4)
        .map(|(_, v)| u32::from_be_bytes([v[0], v[1], v[2], v[3]]));
    let mut result = lookup(&st, &name);
    if let (Some(v), Ok(_)) = (&value, &result) {
        st.lockkeys.push(key);
        let tuner = name
            .strip_prefix("/tuner")
            .and_then(|r| r.strip_suffix("/channel"))
            .and_then(|n| n.parse::<usize>().ok());
        result = match tuner {
            Some(n) if v == "none" || v.contains(':') => {
                st.channels[n] = v.clone();
                Ok(v.clone())
            }
            Some(_) => Err("ERROR: invalid channel".into()),
            None => Err("ERROR: read only variable".into()),
        };
    }
    let mut out_name = name.clone();
    if mode == Mode::WrongItem {
        out_name = "/sys/version".into();
        result = lookup(&st, &out_name);
    }
    let tags = match result {
        Ok(v) => vec![(3, cstr(&out_name)), (4, cstr(&v))],
        Err(e) => vec![(3, cstr(&out_name)), (5, cstr(&e))],
    };
    (mode, frame(5, &tags), name)
}

fn serve_conn(mut s: TcpStream, state: Arc<Mutex<State>>, stop: Arc<AtomicBool>) {
    let _ = s.set_nodelay(true);
    let _ = s.set_read_timeout(Some(Duration::from_millis(100)));
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        // A whole frame buffered?
        if buf.len() >= 4 {
            let total = u16::from_be_bytes([buf[2], buf[3]]) as usize + 8;
            if buf.len() >= total {
                let req: Vec<u8> = buf.drain(..total).collect();
                let (mode, reply, _) = answer(&state, &req);
                let r = match mode {
                    Mode::Normal | Mode::WrongItem => s.write_all(&reply),
                    Mode::Silent => Ok(()),
                    Mode::Delay(ms) => {
                        std::thread::sleep(Duration::from_millis(ms));
                        s.write_all(&reply)
                    }
                    Mode::CloseMidReply => {
                        let _ = s.write_all(&reply[..reply.len() / 2]);
                        return;
                    }
                    Mode::BadCrc => {
                        let mut r = reply.clone();
                        let n = r.len();
                        r[n - 1] ^= 0x55;
                        s.write_all(&r)
                    }
                    Mode::Garbage => s.write_all(b"\x00\x05\x00\x10hello, not a frame at all!!"),
                    Mode::LengthTooLarge => {
                        let mut r = reply.clone();
                        r[2..4].copy_from_slice(&1000u16.to_be_bytes());
                        s.write_all(&r)
                    }
                };
                if r.is_err() {
                    return;
                }
                continue;
            }
        }
        match s.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}

impl Fake {
    /// Starts a device with `tuners` tuners on 127.0.0.1:`port` (0: any free port), TCP and
    /// UDP on the same port number. Tuner 0 starts tuned to auto:21, the others idle.
    pub fn start(port: u16, tuners: usize) -> io::Result<Fake> {
        // For port 0, retry until some TCP port's UDP twin is free too.
        let mut tries = 0;
        let (tcp, udp) = loop {
            let tcp = TcpListener::bind(("127.0.0.1", port))?;
            let p = tcp.local_addr()?.port();
            match UdpSocket::bind(("127.0.0.1", p)) {
                Ok(u) => break (tcp, u),
                Err(e) if port != 0 || tries > 20 => return Err(e),
                Err(_) => tries += 1,
            }
        };
        let addr = tcp.local_addr()?;
        let mut channels = vec!["none".to_string(); tuners];
        if tuners > 0 {
            channels[0] = "auto:21".into();
        }
        let state = Arc::new(Mutex::new(State {
            mode: Mode::Normal,
            tuners,
            channels,
            lockkeys: Vec::new(),
            requests: Vec::new(),
            discovers: Vec::new(),
            connections: 0,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        {
            let (state, stop) = (state.clone(), stop.clone());
            threads.push(std::thread::spawn(move || {
                for conn in tcp.incoming() {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let Ok(conn) = conn else { continue };
                    state.lock().unwrap().connections += 1;
                    let (state, stop) = (state.clone(), stop.clone());
                    std::thread::spawn(move || serve_conn(conn, state, stop));
                }
            }));
        }
        {
            let (state, stop) = (state.clone(), stop.clone());
            udp.set_read_timeout(Some(Duration::from_millis(100)))?;
            threads.push(std::thread::spawn(move || {
                let mut buf = [0u8; 2048];
                while !stop.load(Ordering::Relaxed) {
                    let Ok((n, from)) = udp.recv_from(&mut buf) else {
                        continue;
                    };
                    let mut st = state.lock().unwrap();
                    st.discovers.push(buf[..n].to_vec());
                    let silent = st.mode == Mode::Silent;
                    let tuners = st.tuners as u8;
                    drop(st);
                    if silent || !matches!(parse(&buf[..n]), Some((2, _))) {
                        continue;
                    }
                    let reply = frame(
                        3,
                        &[
                            (1, 1u32.to_be_bytes().to_vec()),
                            (2, DEVICE_ID.to_be_bytes().to_vec()),
                            (0x10, vec![tuners]),
                            (0x2A, cstr(&format!("http://{}:80", addr.ip()))),
                            (0x27, cstr(&format!("http://{}:80/lineup.json", addr.ip()))),
                        ],
                    );
                    let _ = udp.send_to(&reply, from);
                }
            }));
        }
        Ok(Fake {
            addr,
            state,
            stop,
            threads,
        })
    }

    pub fn set_mode(&self, mode: Mode) {
        self.state.lock().unwrap().mode = mode;
    }

    pub fn channel(&self, tuner: usize) -> String {
        self.state.lock().unwrap().channels[tuner].clone()
    }

    /// The getset names received so far, in order.
    pub fn names(&self) -> Vec<String> {
        self.state
            .lock()
            .unwrap()
            .requests
            .iter()
            .filter_map(|r| parse(r).and_then(|(_, t)| tag_str(&t, 3)))
            .collect()
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
